"""
Serving TLS from C{http.tls}: OpenSSL contexts built from the configuration
(L{options}), a server connection creator choosing a certificate per SNI
name (L{sni}), certificates reloaded on C{SIGHUP} (L{reload}), and the
listening endpoints that use them (L{listeners}).  Go cipher suite names
are translated by L{ciphers}.

Nothing is imported here, so that the configuration parser can import
L{ciphers} without pulling in OpenSSL.
"""
