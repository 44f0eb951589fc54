"""pose_reloc: camera relocalization for ROS 2, and the ROS-free core the three nodes share."""

# The package lives in two places once built: these sources, and the install prefix where rosidl
# puts the generated `pose_reloc.msg`. extend_path lets either one be found first on sys.path.
from pkgutil import extend_path

__path__ = extend_path(__path__, __name__)

__version__ = "0.1.0"
