"""Run in its own process (tritonclient registers its own `inference.*` protobuf symbols):
drives our server with tritonclient and prints what it saw as JSON."""

from __future__ import annotations

import json
import sys

import numpy as np
import tritonclient.grpc as tc


def main() -> None:
    url, rows_json = sys.argv[1], sys.argv[2]
    rows: dict[str, list[object]] = json.loads(rows_json)
    client = tc.InferenceServerClient(url)
    meta = client.get_model_metadata("campaign-lift", as_json=True)
    inputs = []
    for spec in meta["inputs"]:
        values = rows[spec["name"]]
        if spec["datatype"] == "BYTES":
            array = np.array(values, dtype=object).reshape(-1, 1)
        else:
            array = np.array(values, dtype=np.float32).reshape(-1, 1)
        tensor = tc.InferInput(spec["name"], list(array.shape), spec["datatype"])
        tensor.set_data_from_numpy(array)
        inputs.append(tensor)
    wanted = ["conversion_probability", "conversion_uplift"]
    result = client.infer(
        "campaign-lift",
        inputs,
        outputs=[tc.InferRequestedOutput(n) for n in wanted],
        request_id="r-1",
    )
    print(
        json.dumps(
            {
                "live": client.is_server_live(),
                "ready": client.is_server_ready(),
                "model_ready": client.is_model_ready("campaign-lift"),
                "other_model_ready": client.is_model_ready("no-such-model"),
                "server": client.get_server_metadata(as_json=True)["name"],
                "platform": meta["platform"],
                "versions": meta["versions"],
                "outputs": {n: result.as_numpy(n).tolist() for n in wanted},
                "model_version": result.get_response(as_json=True)["model_version"],
                "id": result.get_response(as_json=True)["id"],
            }
        )
    )


if __name__ == "__main__":
    main()
