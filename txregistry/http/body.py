"""
A request body that streams from the connection to a consumer.
"""

from __future__ import annotations

from collections.abc import Callable

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IConsumer, IPushProducer
from twisted.python.failure import Failure
from zope.interface import implementer

from txregistry.memory import releaser

# Bytes held while no consumer is attached (routing and storage look-ups
# may take a moment) before the connection is paused.
BUFFER_LIMIT = 1024 * 1024


class RequestBodyError(Exception):
    """
    The body ended before it was complete: the client went away.
    """


@implementer(IPushProducer)
class RequestBody:
    """
    The body of a request that is being received while it is handled.

    The channel feeds it with L{dataReceived} and ends it with
    L{bodyComplete} or L{bodyFailed}.  A handler reads it once with
    L{deliverTo}: the body is then a streaming producer for that consumer, and
    pausing it pauses the reading of the connection.

    @ivar length: the body length the client announced, or L{None} (chunked
        transfer encoding).
    @ivar received: how many bytes have arrived so far.
    @ivar complete: whether the whole body has arrived.
    """

    def __init__(self, transport: IPushProducer, length: int | None) -> None:
        """
        @param transport: what to pause when the consumer is behind: the
            connection's transport.
        @param length: the announced length, or L{None}.
        """
        self._transport = transport
        self.length = length
        self.received = 0
        self.complete = length == 0
        self._buffer: list[bytes] = []
        self._buffered = 0
        self._consumer: IConsumer | None = None
        self._done: Deferred[int] | None = None
        self._failure: Failure | None = None
        self._paused = False
        self._pausedByConsumer = False
        self._discarding = False
        self._sendContinue: Callable[[], None] | None = None

    @property
    def allReceived(self) -> bool:
        """
        Whether every announced byte has arrived (so the channel is about to
        call L{bodyComplete}, if it has not yet).
        """
        return self.complete or (self.length is not None and self.received >= self.length)

    def deliverTo(self, consumer: IConsumer) -> Deferred[int]:
        """
        Write the whole body to C{consumer}, registering as its streaming
        producer.  Bytes that arrived before are written at once.

        @return: a L{Deferred} firing with the body's length once every byte
            was written, or failing with L{RequestBodyError}.  Cancelling it
            stops the delivery.
        """
        if self._consumer is not None:
            raise RuntimeError("a request body can be delivered only once")
        self._consumer = consumer
        self._done = Deferred(lambda d: self.stopProducing())
        consumer.registerProducer(self, True)
        sendContinue, self._sendContinue = self._sendContinue, None
        if sendContinue is not None:
            sendContinue()
        buffered, self._buffer, self._buffered = self._buffer, [], 0
        for data in buffered:
            consumer.write(data)
        if self._paused and not self._pausedByConsumer:
            self._resumeTransport()
        self._finishIfDone()
        return self._done

    def expectContinue(self, sendContinue: Callable[[], None]) -> None:
        """
        The client waits for C{100 Continue} before it sends the body: call
        C{sendContinue} once a handler asks for the body (at once if one has),
        and never if the request is answered without it.
        """
        if self._consumer is not None:
            sendContinue()
        elif not self._discarding:
            self._sendContinue = sendContinue

    def discard(self) -> None:
        """
        Drop the rest of the body: the handler answered without it.  A
        delivery under way fails with L{RequestBodyError}.
        """
        self._discarding = True
        self._sendContinue = None
        self._buffer, self._buffered = [], 0
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            consumer.unregisterProducer()
        if self._done is not None and not self._done.called:
            self._done.errback(RequestBodyError("the rest of the body was discarded"))

    # Called by the request, as the channel parses the body.

    def dataReceived(self, data: bytes) -> None:
        self.received += len(data)
        releaser.moved(len(data))
        if self._discarding:
            return
        if self._consumer is not None:
            self._consumer.write(data)
            return
        self._buffer.append(data)
        self._buffered += len(data)
        if self._buffered > BUFFER_LIMIT and not self._paused:
            self._pauseTransport()

    def bodyComplete(self) -> None:
        self.complete = True
        self._finishIfDone()

    def bodyFailed(self, reason: Failure) -> None:
        if self.complete or self._failure is not None:
            return
        self._failure = Failure(RequestBodyError(reason.getErrorMessage()))
        self._finishIfDone()

    # IPushProducer, for the consumer.

    def pauseProducing(self) -> None:
        self._pausedByConsumer = True
        if not self._paused:
            self._pauseTransport()

    def resumeProducing(self) -> None:
        self._pausedByConsumer = False
        if self._paused:
            self._resumeTransport()

    def stopProducing(self) -> None:
        self.discard()

    def _pauseTransport(self) -> None:
        self._paused = True
        self._transport.pauseProducing()

    def _resumeTransport(self) -> None:
        self._paused = False
        self._transport.resumeProducing()

    def _finishIfDone(self) -> None:
        done = self._done
        if done is None or done.called or self._consumer is None:
            return
        if self._failure is not None:
            self._consumer.unregisterProducer()
            self._consumer = None
            done.errback(self._failure)
        elif self.complete:
            self._consumer.unregisterProducer()
            self._consumer = None
            done.callback(self.received)
