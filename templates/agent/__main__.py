"""The on-instance agent's helper (DESIGN §6): Python 3.9+, stdlib only. agent.sh writes these modules
into one folder and runs `python3 FOLDER agent.json COMMAND`; bash keeps the process work (detach,
launch, kill, shutdown). Commands: `start` (start.py), `watch PID` (checks.py), `finish EXIT_CODE
[STATUS REASON]` (finish.py), `report ARGS` (`spored report`, report.py), `stop-instance` (on_complete: stop). Pure rules: rules.py; calls: aws.py.
"""

import json
import os
import sys

import checks
import fetch
import finish
import report
import start
from aws import Agent


def main(argv):
    with open(argv[1]) as handle:
        cfg = json.load(handle)
    agent = Agent(cfg, os.environ)
    command = argv[2]
    if command == "start":
        print(start.start(agent))
    elif command == "watch":
        print(checks.watch(agent, int(argv[3])))
    elif command == "finish":
        print(finish.finish(agent, argv[3], argv[4] if len(argv) > 4 else ""))
    elif command == "report":
        return report.report(agent, argv[3:])
    elif command == "prepare":
        return fetch.prepare(agent)
    elif command == "stop-instance":
        done = agent.aws("ec2", "stop-instances", "--instance-ids", agent.state()["instance"])
        return 0 if done is not None and done.returncode == 0 else 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
