"""
Garbage collection: find what no repository needs any more and delete it
(L{txregistry.storage.gc.collector.GarbageCollector}).
"""
