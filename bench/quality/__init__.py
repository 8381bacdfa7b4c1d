"""The decision-quality benchmark: seeded simulated worlds with known truth (`worlds`), the
peers a policy is judged beside (`peers`), and the harness that measures the share of the
personalization gain each captures offline and in a closed loop (`harness`)."""
