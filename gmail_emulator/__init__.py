"""A faithful local Gmail API v1 server. It must never import ``gmail_core``."""

from .backend import Emulator, EmulatorConfig
from .server import EmulatorServer, start_emulator

__all__ = ["Emulator", "EmulatorConfig", "EmulatorServer", "start_emulator"]
