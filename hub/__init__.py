"""The hub: master records, ingest workers, sync responder and the staff web application.

Never imports ``kiosk``; talks to kiosks only through ``protocol`` over MQTT.
"""

__version__ = "0.1.0"
