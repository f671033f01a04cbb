"""Deploy stage: a build directory -> a self-contained PYNQ package (``bnn2hw deploy``).

Contract: ``deploy(build_dir, out_dir, ...)`` writes the package (``driver.py``, ``io_spec.json``,
``README.md``, sim graphs, bitfile + .hwh when built, test data, runtime weight samples) and
checks its driver against ``bnn2hw.sim`` (see ``bnn2hw.deploy.api``); ``check_build`` refuses a
package made from another build; ``DeployError`` is the one exception, with a message for the
user. The driver itself (``driver_template.py``, copied as ``driver.py``, and its parts in
``bnn2hw_driver/``) needs only numpy and,
on the board, pynq. Nothing here imports torch or finn.
"""

from bnn2hw.deploy.api import check_build, deploy, load_spec
from bnn2hw.deploy.io_spec import DeployError

__all__ = ["DeployError", "check_build", "deploy", "load_spec"]
