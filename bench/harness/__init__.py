"""The benchmark's harness (`bench/run.py`): the real function binaries under the local Lambda
Runtime API, against the AWS emulator and the Slack stand-in of the demo's world."""
