"""Devices: what a phone or a mail program needs to set itself up — where the servers are
(autoconfig, Autodiscover), an Apple configuration profile holding a fresh app password, a
one-time link to fetch it, and a self-test of the paths a device uses."""
