"""
Health checks, as distribution runs them: periodic checks of the storage
driver, of files, of HTTP services and of TCP ports (L{checks}), whose
results are kept by a L{registry.HealthRegistry} and served by the debug
listener's C{/debug/health} (L{resource.HealthResource}); while any check
fails, the main listener answers 503 (L{resource.UnhealthyGate}).
"""
