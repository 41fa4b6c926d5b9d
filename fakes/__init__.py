"""In-project fake HubSpot and Calendly servers, outside the runtime apps.

Used by the tests, `make run` (Procfile.dev), the benchmarks and `make faults`. A small Django app only
so that its management commands (`fake_hubspot`, `fake_calendly`) are found; it has no models, and no
runtime app imports it.
"""
