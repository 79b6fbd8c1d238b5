"""spawn-tf: compile parameter sweeps into Terraform for AWS spot instances.

Importing this package loads no AWS SDK: the compile path stays light.
"""

from spawn_tf._version import __version__
from spawn_tf.pipeline import Checked, check_file

__all__ = ["Checked", "__version__", "check_file"]
