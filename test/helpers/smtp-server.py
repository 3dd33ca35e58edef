# A real SMTP server for tests (Debian's python3-aiosmtpd): listens on 127.0.0.1:<port>, writes each
# accepted message as JSON (envelope, authenticated login, decoded subject and text, raw data) to <dir>/<n>.json, and prints
# "smtp-server ready" once it listens. With a user and password it offers AUTH (without TLS: loopback only) and
# requires it. Recipients starting with "refuse" get 550.
import json, os, signal, sys, threading
from email import message_from_bytes, policy
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

port, out_dir = int(sys.argv[1]), sys.argv[2]
user = sys.argv[3].encode() if len(sys.argv) > 3 else None
password = sys.argv[4].encode() if len(sys.argv) > 4 else None


class Handler:
    def __init__(self):
        self.count = len([n for n in os.listdir(out_dir) if n.endswith('.json')])

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.startswith('refuse'):
            return '550 5.1.1 no such mailbox'
        envelope.rcpt_tos.append(address)
        return '250 OK'

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        login = session.auth_data.login.decode() if isinstance(session.auth_data, LoginPassword) else None
        message = message_from_bytes(envelope.content, policy=policy.default)
        body = message.get_body(('plain',))
        record = {'from': envelope.mail_from, 'to': envelope.rcpt_tos, 'login': login,
                  'headerFrom': str(message['from']), 'headerTo': str(message['to']),
                  'subject': str(message['subject']), 'text': body.get_content() if body else None,
                  'data': envelope.content.decode('utf8', 'replace')}
        final = os.path.join(out_dir, '%06d.json' % self.count)
        with open(final + '.tmp', 'w') as f:
            json.dump(record, f)
        os.rename(final + '.tmp', final)
        return '250 OK queued'


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and auth_data.login == user and auth_data.password == password
    return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)


options = {'auth_require_tls': False, 'auth_required': True, 'authenticator': authenticator} if user else {}
controller = Controller(Handler(), hostname='127.0.0.1', port=port, **options)
controller.start()
print('smtp-server ready', flush=True)
stop = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: stop.set())
signal.signal(signal.SIGINT, lambda *_: stop.set())
stop.wait()
controller.stop()
