"""The rule language: setups written as YAML, validated with every error located.

``loader.load_rule`` / ``loader.validate_file`` (YAML with positions -> ``schema.Rule`` ->
``checks``), ``vocabulary`` (level and event names onto the detectors' enums),
``versions`` (path identity, content hash, new-version decision), ``json_schema``.
The reference for traders is docs/rules.md.
"""
