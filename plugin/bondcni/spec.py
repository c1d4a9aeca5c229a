"""CNI spec versions this plugin speaks (stdlib-free, so VERSION imports next to nothing)."""

CURRENT_VERSION = "1.1.0"
SUPPORTED_VERSIONS = ("0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0")
