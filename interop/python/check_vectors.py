#!/usr/bin/python3
"""Checks the golden vectors (test/vectors/) with Python's protobuf runtime.

For every vector of index.json: the .bin decodes as its type to the message its `json`
describes (proto3 JSON mapping), and encoding that message again gives the .bin byte for
byte (deterministic serialization: map entries sorted by key); the same for the Progress
in the payload of a PROGRESS report (`payloadMessage`). Prints `ok <name>` or
`FAIL <name>: <why>` per vector; exits 1 if any failed.

    /usr/bin/python3 interop/python/check_vectors.py [vectors directory]
"""

import json
import sys
from pathlib import Path

from google.protobuf import json_format, text_format

from protos import pb

TYPES = {
    "dingo.v1.Task": pb.envelope.Task,
    "dingo.v1.Report": pb.envelope.Report,
    "dingo.v1.Progress": pb.envelope.Progress,
}


def one_line(message) -> str:
    return text_format.MessageToString(message, as_one_line=True)


def check(directory: Path, vector: dict) -> str | None:
    """None if the vector holds, else why not."""
    problem = check_bytes((directory / vector["file"]).read_bytes(), vector["type"], vector["json"])
    if problem is None and "payloadMessage" in vector:  # PROGRESS: the payload is a Progress
        report = pb.envelope.Report.FromString((directory / vector["file"]).read_bytes())
        inner = vector["payloadMessage"]
        problem = check_bytes(report.payload, inner["type"], inner["json"])
        return None if problem is None else f"payload: {problem}"
    return problem


def check_bytes(data: bytes, type_name: str, described_json) -> str | None:
    """None if `data` decodes to `described_json` and encodes back to itself."""
    message_type = TYPES.get(type_name)
    if message_type is None:
        return f"unknown type {type_name}"
    decoded = message_type.FromString(data)
    described = json_format.Parse(json.dumps(described_json), message_type())
    if decoded != described:
        return f"decodes to {{{one_line(decoded)}}}, the description is {{{one_line(described)}}}"
    encoded = decoded.SerializeToString(deterministic=True)
    if encoded != data:
        return f"re-encodes to {encoded.hex()}, the file has {data.hex()}"
    return None


def main() -> int:
    root = Path(__file__).resolve().parents[2]
    directory = Path(sys.argv[1]) if len(sys.argv) > 1 else root / "test/vectors"
    index = json.loads((directory / "index.json").read_text())
    if index.get("contract") != "dingo.v1":
        print(f"FAIL index.json: contract {index.get('contract')!r}, expected 'dingo.v1'")
        return 1
    failed = 0
    for vector in index["vectors"]:
        problem = check(directory, vector)
        failed += problem is not None
        print(f"ok {vector['name']}" if problem is None else f"FAIL {vector['name']}: {problem}")
    return 1 if failed or not index["vectors"] else 0


if __name__ == "__main__":
    sys.exit(main())
