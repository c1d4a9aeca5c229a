# The lab's pytest integration: kernel tests run on a bonding kernel (in the lab VM when the host
# kernel cannot bond).
pytest_plugins = ["bondlab.pytest_plugin", "bondlab.scenario_pytest"]
