"""Root plugin: everything lives in parity.pytest_plugin, so an installed copy behaves the same."""

pytest_plugins = ["parity.pytest_plugin"]
