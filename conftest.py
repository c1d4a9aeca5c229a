# The lab's pytest integration: kernel tests run on a bonding kernel (in the lab VM when the host kernel
# cannot bond); YAML scenario files are test items; Python scenario tests get the lab fixtures. The suite's
# tiers (`--tier fast`) and the markers that keep a test out of the fast one: tests/tiers.py.
pytest_plugins = [
    "bondlab.pytest.delegate",
    "bondlab.pytest.collect",
    "bondlab.pytest.fixtures",
    "tests.tiers",
]
