"""A real SMTP server for the tests (aiosmtpd): each mail received is saved, decoded, as
`<folder>/<n>.txt` with its recipients, subject and plain-text body.

    python -m aiosmtpd -n -l 127.0.0.1:PORT -c smtp_sink.Sink FOLDER
"""
import email
import email.policy
import pathlib
import uuid


class Sink:
    def __init__(self, folder):
        self.folder = pathlib.Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)

    @classmethod
    def from_cli(cls, parser, *args):
        return cls(*args)

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        body = message.get_body(preferencelist=("plain",)).get_content()
        has_html = message.get_body(preferencelist=("html",)) is not None
        text = f"To: {','.join(envelope.rcpt_tos)}\nSubject: {message['subject']}\nHTML: {has_html}\n\n{body}"
        partial = self.folder / f".{uuid.uuid4().hex}"
        partial.write_text(text)
        partial.rename(self.folder / f"{uuid.uuid4().hex}.txt")
        return "250 OK"
