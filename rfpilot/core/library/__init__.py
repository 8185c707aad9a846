"""The script library: templates, their runs and the draft-template review (``templates``), templates as
TOML/YAML files (``template_files``), turning the script that fixed one ticket into a parameterised template
(``extraction``), and substituting parameters without ever evaluating them (``render``).
"""
