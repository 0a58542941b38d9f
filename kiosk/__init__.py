"""The wing kiosk: local caches, durable outbox, sensors, recognition and touchscreen UI.

Never imports ``hub``; talks to it only through ``protocol`` over MQTT.
"""

__version__ = "0.1.0"
