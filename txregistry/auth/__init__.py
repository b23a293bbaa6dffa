"""
Authentication and authorisation of requests: distribution's C{auth}
providers (C{htpasswd}, C{token}, C{silly}) behind one interface,
L{txregistry.auth.interfaces.IAccessController}, applied by a resource
wrapping the API's (L{txregistry.auth.resource.AuthResource}) before a
request's body is read.
"""
