"""Apache Airflow provider for the Microsoft Kaizala connector REST API.

Importing this package is deliberately cheap: the scheduler parses DAG files constantly,
so nothing heavy (``requests``, ``phonenumbers``, the emulator) is imported here.
"""

from __future__ import annotations

__version__ = "0.1.0"
