"""`bondlab conformance`: black-box CNI protocol cases for any bond CNI binary.

registry (cases declared once, with level and source) -> sandbox (what a case needs on the kernel) ->
driver (exec the plugin as a runtime does) -> judges (pure judges of results and errors) -> suite (run,
report). The cases live in cases_*.py.
"""
