"""`bondlab lint`: the plugin's own parser and the lab's pitfalls, run on users' YAML or CNI JSON, no kernel.

inputs (files -> bond configs with their lines and the links they bond) -> rules and placement (findings,
registered in registry) -> report (table or JSON, exit code).
"""
