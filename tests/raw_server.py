"""A TCP server on 127.0.0.1 that reads one HTTP request per connection and answers whatever bytes
a test wants, as slowly as it wants: what no well-behaved HTTP server library would send."""

from __future__ import annotations

import socket
import threading
import time


class RawServer:
    def __init__(self, answer: bytes, byte_every: float = 0.0, forever: bool = False) -> None:
        """`answer` sent after the request, all at once or one byte every `byte_every` seconds;
        with `forever`, the answer's last byte repeats until the client hangs up."""
        self.answer, self.byte_every, self.forever = answer, byte_every, forever
        self.requests = 0
        self.hung_up = threading.Event()  # the client closed the connection while we were sending
        self.socket = socket.create_server(("127.0.0.1", 0))
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.socket.getsockname()[1]}"

    def stop(self) -> None:
        self.socket.close()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.socket.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(connection,), daemon=True).start()

    def _answer(self, connection: socket.socket) -> None:
        with connection:
            if not _read_request(connection):
                return
            self.requests += 1
            try:
                if not self.byte_every:
                    connection.sendall(self.answer)
                    return
                data = self.answer
                index = 0
                while index < len(data) or self.forever:
                    connection.sendall(data[min(index, len(data) - 1):][:1])
                    index += 1
                    time.sleep(self.byte_every)  # the scripted slowness, not synchronisation
            except OSError:
                self.hung_up.set()


def _read_request(connection: socket.socket) -> bool:
    """Read one request (headers, then Content-Length bytes of body); False if the client left."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = connection.recv(65536)
        if not chunk:
            return False
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = connection.recv(65536)
        if not chunk:
            return False
        body += chunk
    return True
