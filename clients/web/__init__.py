"""The HTTP side: the console for A/B test owners and platform engineers, and the
Personalizer-compatible REST API. A client of the gRPC services like the CLI: every report,
statistic and decision comes from the same RPCs, with the caller's own token, so the gRPC
server's role checks hold here too."""
