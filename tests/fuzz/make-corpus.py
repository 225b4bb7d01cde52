#!/usr/bin/env python3
"""Write the hand-made seed inputs of tests/fuzz/corpus/.

    tests/fuzz/make-corpus.py [CORPUS-DIR]

Each seed is small and named after what it exercises.  The script only
writes the seeds listed here: crash-* regression inputs and whatever else
was added to the corpus by hand (README.md, "Adding a crash") are left
alone.  The first byte of most inputs is the target's flags byte (see the
comment at the top of each fuzz-*.c).

The RS256/ES256 tokens were signed once with throw-away private keys whose
public halves are in fuzz-jwt.c; the HS* tokens are signed here.
"""
import base64
import hashlib
import hmac
import json
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, 'corpus')


def write(target, name, data):
    if isinstance(data, str):
        data = data.encode()
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), 'wb') as f:
        f.write(data)


def b64url(b):
    if isinstance(b, str):
        b = b.encode()
    return base64.urlsafe_b64encode(b).rstrip(b'=').decode()


def compact(obj):
    return json.dumps(obj, separators=(',', ':'))


# ---- fuzz-ws-codec: flags, cut, cut, then the byte stream -----------------

def frame(opcode, payload, fin=True, mask=None, rsv=0, length_form=None):
    if isinstance(payload, str):
        payload = payload.encode()
    n = len(payload)
    b0 = (0x80 if fin else 0) | rsv | opcode
    mbit = 0x80 if mask is not None else 0
    form = length_form or (7 if n <= 125 else 16 if n <= 0xFFFF else 64)
    if form == 7:
        head = bytes([b0, mbit | n])
    elif form == 16:
        head = bytes([b0, mbit | 126]) + struct.pack('>H', n)
    else:
        head = bytes([b0, mbit | 127]) + struct.pack('>Q', n)
    if mask is None:
        return head + payload
    masked = bytes(c ^ mask[i % 4] for i, c in enumerate(payload))
    return head + bytes(mask) + masked


M = b'\x37\xfa\x21\x3d'
TEXT, BINARY, CLOSE, PING, PONG, CONT = 1, 2, 8, 9, 10, 0
LIMITS_NONE = 0x00          # max_frame 0, max_message 0 (no limits)
LIMITS_SMALL = 0x03 | 5 << 3  # max_frame 125, max_message 127


def ws(name, stream, flags=LIMITS_NONE, cuts=(3, 9)):
    write('fuzz-ws-codec', name, bytes([flags, cuts[0], cuts[1]]) + stream)


def ws_seeds():
    ws('client-text-hello', frame(TEXT, 'Hello'))
    ws('server-text-hello-masked', frame(TEXT, 'Hello', mask=M))
    ws('client-fragmented-text', frame(TEXT, 'Hel', fin=False) + frame(CONT, 'lo'))
    ws('server-fragmented-utf8-split-ping', frame(TEXT, b'caf\xc3', fin=False, mask=M) +
       frame(PING, 'p', mask=M) + frame(CONT, b'\xa9 \xf0\x9f\x98', fin=False, mask=M) +
       frame(CONT, b'\x80', mask=M))
    ws('client-ping-pong', frame(PING, 'Hello') + frame(PONG, 'Hello'))
    ws('server-binary-256-len16', frame(BINARY, bytes(range(256)), mask=M))
    ws('client-binary-len64', frame(BINARY, b'\x00\x01\x02', length_form=64))
    ws('client-nonminimal-len16', frame(TEXT, 'abc', length_form=16))
    ws('server-close-1000-reason', frame(CLOSE, struct.pack('>H', 1000) + b'bye', mask=M))
    ws('client-close-empty', frame(CLOSE, b''))
    ws('client-close-4999', frame(CLOSE, struct.pack('>H', 4999)))
    ws('client-empty-text-then-text', frame(TEXT, '') + frame(TEXT, 'x'))
    ws('client-several-messages', frame(TEXT, '{"a":1}') + frame(BINARY, b'\xff\xfe') +
       frame(PING, '') + frame(TEXT, 'end'))
    ws('limits-small-frame-too-big', frame(BINARY, b'x' * 200), flags=LIMITS_SMALL)
    ws('limits-small-message-too-big', b''.join(frame(BINARY if i == 0 else CONT, b'y' * 100,
                                                      fin=(i == 2)) for i in range(3)),
       flags=LIMITS_SMALL, cuts=(0, 0))
    # nasty ones
    ws('nasty-close-1-byte', frame(CLOSE, b'\x03'))
    ws('nasty-close-1005-on-wire', frame(CLOSE, struct.pack('>H', 1005)))
    ws('nasty-close-bad-utf8', frame(CLOSE, struct.pack('>H', 1000) + b'\xc0\xaf'))
    ws('nasty-text-overlong', frame(TEXT, b'\xc0\xaf'))
    ws('nasty-text-surrogate', frame(TEXT, b'\xed\xa0\x80'))
    ws('nasty-text-above-10ffff', frame(TEXT, b'\xf4\x90\x80\x80'))
    ws('nasty-text-truncated-utf8', frame(TEXT, b'ok\xe2\x82'))
    ws('nasty-rsv-bits', frame(TEXT, 'x', rsv=0x40))
    ws('nasty-unknown-opcode', frame(3, 'x'))
    ws('nasty-continuation-first', frame(CONT, 'x'))
    ws('nasty-text-during-fragment', frame(TEXT, 'a', fin=False) + frame(TEXT, 'b'))
    ws('nasty-fragmented-ping', frame(PING, 'x', fin=False))
    ws('nasty-ping-126', frame(PING, b'p' * 126))
    ws('nasty-len64-msb', bytes([0x82, 0x7f, 0x80, 0, 0, 0, 0, 0, 0, 1]) + b'x')
    ws('nasty-len64-huge', bytes([0x82, 0x7f, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]) + b'x' * 20)
    ws('nasty-client-frame-unmasked-in-server', frame(TEXT, 'x') + frame(TEXT, 'y', mask=M))
    ws('nasty-data-after-close', frame(CLOSE, b'') + frame(TEXT, 'late'))


# ---- fuzz-cf-commands: flags, then newline-separated commands ---------------

CONNECT, TOKEN, SUB_TOKEN, WATCHER, LINES, TICK, UNI, STREAM = (1 << i for i in range(8))


def cf(name, flags, lines):
    write('fuzz-cf-commands', name, bytes([flags]) + '\n'.join(lines).encode())


def cf_seeds():
    cf('session-anonymous', 0, [
        '{"id":1,"connect":{"name":"js","version":"1.0"}}',
        '{"id":2,"subscribe":{"channel":"chat","recoverable":true,"positioned":true,"join_leave":true}}',
        '{"id":3,"publish":{"channel":"chat","data":{"text":"hi"}}}',
        '{"id":4,"history":{"channel":"chat","limit":-1}}',
        '{"id":5,"presence":{"channel":"chat"}}',
        '{"id":6,"presence_stats":{"channel":"chat"}}',
        '{"id":7,"unsubscribe":{"channel":"chat"}}',
        '{"id":8,"rpc":{"method":"x","data":{}}}',
        '{}',
    ])
    cf('session-connected-publish-history', CONNECT | WATCHER | LINES, [
        '{"id":2,"subscribe":{"channel":"chat"}}',
        '{"id":3,"publish":{"channel":"chat","data":[1,2.5,"\\u00e9",null,true]}}',
        '{"id":4,"publish":{"channel":"chat","data":"line\\nbreak"}}',
        '{"id":5,"history":{"channel":"chat","limit":2,"since":{"offset":1,"epoch":"x"}}}',
        '{"id":6,"history":{"channel":"chat","limit":2,"reverse":true}}',
        '{"id":7,"history":{"channel":"chat","since":{"offset":0},"reverse":true}}',
    ])
    cf('session-recover-positioned', CONNECT | WATCHER | LINES | TICK, [
        '{"id":2,"subscribe":{"channel":"pos:a","recover":true,"offset":1,"epoch":"e"}}',
        '{"id":3,"subscribe":{"channel":"pos:b","recover":true,"offset":0,"flag":2}}',
        '{"id":4,"presence":{"channel":"pos:a"}}',
        '{"id":5,"subscribe":{"channel":"pos:UPPER"}}',
        '{"id":6,"subscribe":{"channel":"pos:aaaaaaaaaaaaaaaaaaaaaaaa"}}',
    ])
    cf('session-token-sub-token', CONNECT | TOKEN | SUB_TOKEN | WATCHER, [
        '{"id":3,"publish":{"channel":"ns:room","data":{"a":1}}}',
        '{"id":4,"publish":{"channel":"chat","data":{"b":2}}}',
        '{"id":5,"sub_refresh":{"channel":"ns:room","token":"x.y.z"}}',
        '{"id":6,"subscribe":{"channel":"ns:other"}}',
        '{"id":7,"subscribe":{"channel":"chat#u1,u2"}}',
        '{"id":8,"refresh":{"token":"a.b.c"}}',
    ])
    cf('session-stream-ticks', CONNECT | STREAM | TICK | LINES, [
        '{"id":2,"subscribe":{"channel":"chat"}}',
        '{"id":3,"publish":{"channel":"chat","data":{}}}',
        '{}',
    ])
    cf('uni-connect-subs', UNI | WATCHER | TICK, [
        '{"name":"uni","subs":{"chat":{"recover":true,"offset":0}}}',
    ])
    cf('uni-connect-empty', UNI, [''])
    cf('connect-token-and-subs', 0, [
        '{"id":1,"connect":{"token":"e30.e30.e30","subs":{"chat":{"recover":true}}}}',
    ])
    # nasty ones
    cf('nasty-before-connect', 0, ['{"id":1,"subscribe":{"channel":"chat"}}'])
    cf('nasty-no-id', CONNECT, ['{"subscribe":{"channel":"chat"}}'])
    cf('nasty-send-without-id', CONNECT, ['{"send":{"data":{}}}'])
    cf('nasty-bad-ids', 0, ['{"id":-1,"connect":{}}', '{"id":4294967296,"connect":{}}',
                            '{"id":1.5,"connect":{}}', '{"id":"1","connect":{}}'])
    cf('nasty-not-objects', 0, ['[]', '"x"', '1', 'null', '{"id":1,"connect":[]}', '{'])
    cf('nasty-two-connects', CONNECT, ['{"id":2,"connect":{}}'])
    cf('nasty-unknown-method', CONNECT, ['{"id":2,"frobnicate":{}}'])
    cf('nasty-channel-types', CONNECT | LINES, [
        '{"id":2,"subscribe":{"channel":""}}',
        '{"id":3,"subscribe":{"channel":null}}',
        '{"id":4,"publish":{"channel":"chat"}}',
        '{"id":5,"subscribe":{"channel":"nope:x"}}',
        '{"id":6,"history":{"channel":"chat","since":[]}}',
    ])
    cf('nasty-deep-nesting', CONNECT, ['{"id":2,"publish":{"channel":"chat","data":' +
                                       '[' * 300 + ']' * 300 + '}}'])
    cf('nasty-many-pipelined', CONNECT, ['{}'] * 1100)


# ---- fuzz-jwt: flags, then a token or its parts ---------------------------

SECRET = b'fuzz-secret-0123456789'
RAW, PARTS, SIGNED, RAW_SIG, RSA_PEM, EC_PEM = range(6)
AUD_ISS = 0x20
RS256_TOKEN = (
    'eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiI0MiIsImV4cCI6NDEwMjQ0NDgwMCwiaW5mbyI6eyJu'
    'YW1lIjoiQWxpY2UifSwiY2hhbm5lbHMiOlsibmV3cyJdfQ.mp4hTJwvq5zU-mD6kiTVOKvjXrscmpAFPxm4sxpdP8'
    'rH-1ximA3JblDUZrpfI5Hj7jUqyqdVQX0Oq0yApMxND4NvYCwafQmoM1Di3Z9RAlZ9RZQd3B2bwfWX2nZLtGFjhRhR'
    'O_IJQLGd_a5GGRasQGU5Ud6oVhjgK7ta0nccfm7uoxUwzwWa50mbvkSaxp-Wozf3iqdKS7hMyiDBgd7lNXUCmlGag7'
    '5euxm7LpuAaIowIRa9G1uiqFCl_cJyq6UX7vLsWK5W_z00ahWzUf6k0PjpWDUpGc5fJpdWmiwM9Hr2us3qjJTRJild'
    'UISk7eCK9KJgVrHW3mwSN_eYI06fBQ')
ES256_TOKEN = (
    'eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiI0MiIsImV4cCI6NDEwMjQ0NDgwMCwiaW5mbyI6eyJu'
    'YW1lIjoiQWxpY2UifSwiY2hhbm5lbHMiOlsibmV3cyJdfQ.mp3fMY8MKvcQ71MMpjc8x7DMA71MUWBVdo-azs1X7t'
    'mxSHMSnX6jXQQGpqyvgcVE13JIYKxCtysDlxpsIz8ERg')
EC_CERT = """-----BEGIN CERTIFICATE-----
MIIBczCCARmgAwIBAgIUSrg+/6/iEinMR43M2xslaSD/oVMwCgYIKoZIzj0EAwIw
DzENMAsGA1UEAwwEZnV6ejAeFw0yNjExMjgxMTU1MzlaFw0zNjExMjUxMTU1Mzla
MA8xDTALBgNVBAMMBGZ1enowWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAAQhlfXG
gJGQDAXL+KtaVMKxLGusw1jAMuxXglI/OAWVLFGHY7IZXhjwuV8yPDL6A3O1nMsN
X7yup11XvSFI62aPo1MwUTAdBgNVHQ4EFgQUUjIUwTljPIKIr4Cci4zwgY352sow
HwYDVR0jBBgwFoAUUjIUwTljPIKIr4Cci4zwgY352sowDwYDVR0TAQH/BAUwAwEB
/zAKBggqhkjOPQQDAgNIADBFAiEAndghtKfLGj3Q43ewS/m9bSPV4UihQia5OW19
G5ALU/MCIACdr1/JTRKZyEgbA7JOdu7DRMQiQHvAuWAS0JfD5VzQ
-----END CERTIFICATE-----
"""
EC_PUB = """-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEIZX1xoCRkAwFy/irWlTCsSxrrMNY
wDLsV4JSPzgFlSxRh2OyGV4Y8LlfMjwy+gNztZzLDV+8rqddV70hSOtmjw==
-----END PUBLIC KEY-----
"""


def hs_token(alg, header, payload):
    digest = {'HS256': hashlib.sha256, 'HS384': hashlib.sha384, 'HS512': hashlib.sha512}[alg]
    si = b64url(header) + '.' + b64url(payload)
    sig = hmac.new(SECRET, si.encode(), digest).digest()
    return si + '.' + b64url(sig)


def jwt(name, flags, data):
    if isinstance(data, str):
        data = data.encode()
    write('fuzz-jwt', name, bytes([flags]) + data)


def jwt_parts(name, flags, header, payload, sig=b''):
    parts = [p.encode() if isinstance(p, str) else p for p in (header, payload, sig)]
    jwt(name, flags, b'\xff'.join(parts))


def jwt_seeds():
    full = compact({"sub": "42", "exp": 4102444800, "nbf": 1600000000, "iat": 1600000000,
                    "aud": ["crier", "other"], "iss": "https://issuer.example",
                    "channels": ["a", "b"], "info": {"name": "Alice"}, "b64info": "e30",
                    "subs": {"news": {"info": {}}}, "meta": [1], "expire_at": None})
    jwt('raw-hs256-valid', RAW, hs_token('HS256', '{"alg":"HS256","typ":"JWT"}', full))
    jwt('raw-hs512-sub-token', RAW, hs_token('HS512', '{"alg":"HS512"}',
                                             '{"sub":"","channel":"ns:room","client":"abc"}'))
    jwt('raw-rs256-valid', RAW, RS256_TOKEN)
    jwt('raw-es256-valid', RAW, ES256_TOKEN)
    jwt('raw-es256-bad-sig', RAW, ES256_TOKEN[:-4] + 'AAAA')
    jwt('raw-alg-none', RAW, b64url('{"alg":"none"}') + '.' + b64url('{"sub":"1"}') + '.')
    jwt('raw-padded-b64', RAW, b64url('{"alg":"HS256"}') + '=.e30.e30')
    jwt('raw-four-segments', RAW, 'e30.e30.e30.e30')
    for bits, alg in ((0, 'HS256'), (1, 'HS384'), (2, 'HS512')):
        jwt_parts('signed-%s-full-claims' % alg.lower(), SIGNED | bits << 3 | AUD_ISS,
                  '{"alg":"%s","typ":"JWT"}' % alg, full)
    jwt_parts('signed-expired', SIGNED, '{"alg":"HS256"}', '{"sub":"1","exp":1000}')
    jwt_parts('signed-not-yet', SIGNED, '{"alg":"HS256"}', '{"sub":"1","nbf":4102444800}')
    jwt_parts('signed-aud-string-no-iss', SIGNED | AUD_ISS, '{"alg":"HS256"}', '{"aud":"crier"}')
    jwt_parts('signed-float-times', SIGNED, '{"alg":"HS256"}',
              '{"exp":4.1e9,"nbf":-1e300,"iat":1e308,"expire_at":0.5}')
    jwt_parts('signed-wrong-claim-types', SIGNED, '{"alg":"HS256"}',
              '{"sub":1,"channels":"a","subs":{"x":1},"aud":[1]}')
    jwt_parts('signed-header-crit', SIGNED, '{"alg":"HS256","crit":["exp"]}', '{}')
    jwt_parts('signed-header-typ', SIGNED, '{"alg":"HS256","typ":"jwt","kid":"k","jku":"http://x"}', '{}')
    jwt_parts('signed-nasty-nul-escape', SIGNED, '{"alg":"HS256"}', '{"sub":"a\\u0000b"}')
    jwt_parts('signed-nasty-lone-surrogate', SIGNED, '{"alg":"HS256"}', '{"sub":"\\ud800"}')
    jwt_parts('signed-nasty-big-int', SIGNED, '{"alg":"HS256"}', '{"exp":99999999999999999999}')
    jwt_parts('signed-nasty-leading-zero', SIGNED, '{"alg":"HS256"}', '{"exp":0123}')
    jwt_parts('signed-nasty-trailing', SIGNED, '{"alg":"HS256"}', '{} {}')
    jwt_parts('signed-nasty-comment', SIGNED, '{"alg":"HS256"}', '{/*x*/}')
    jwt_parts('signed-nasty-single-quotes', SIGNED, '{"alg":"HS256"}', "{'sub':'x'}")
    jwt_parts('signed-nasty-deep', SIGNED, '{"alg":"HS256"}', '{"a":' + '[' * 70 + ']' * 70 + '}')
    jwt_parts('signed-nasty-duplicate', SIGNED, '{"alg":"none","alg":"HS256"}', '{"sub":"a","sub":"b"}')
    jwt_parts('signed-nasty-bad-utf8', SIGNED, '{"alg":"HS256"}', b'{"sub":"\xc0\xaf"}')
    jwt_parts('parts-es256-garbage-sig', PARTS, '{"alg":"ES256"}', '{}', b'\x01' * 64)
    jwt_parts('parts-rs512-short-sig', PARTS, '{"alg":"RS512"}', '{}', b'\x01' * 3)
    jwt_parts('parts-ps256', PARTS, '{"alg":"PS256"}', '{}', b'x')
    jwt_parts('rawsig-bad-b64', RAW_SIG, '{"alg":"HS256"}', '{}', '+/=')
    jwt('pem-ec-public-key', EC_PEM, EC_PUB)
    jwt('pem-ec-certificate', EC_PEM, EC_CERT)
    jwt('pem-rsa-given-ec-key', RSA_PEM, EC_PUB)
    jwt('pem-truncated', EC_PEM, EC_PUB[:80])


# ---- fuzz-config: flags, then a crierd.conf; each line is also a --set -----

def config(name, text, flags=0):
    if isinstance(text, str):
        text = text.encode()
    write('fuzz-config', name, bytes([flags]) + text)


def config_seeds():
    config('minimal', '[server]\nlisten = 127.0.0.1:0\n')
    config('full', """# a comment
[server]
listen = 127.0.0.1:8000, [::1]:8001
node_name = node-1
backlog = 1024
drain_timeout = 250ms
log_level = debug
allowed_origins = https://a.example, https://b.example

[websocket]
max_frame_size = 64KiB
max_message_size = 1M
pong_timeout = 5s
ping_interval = 1m

[limits]
outbound_soft_limit = 128k
outbound_hard_limit = 1MiB
max_subscriptions = 64

[auth]
hmac_secret = s3cr\\st\\\\x # not a comment
api_keys = k1,k2
allow_anonymous = yes

[broker]
redis_prefix = crier

[admin]
token = t

[anomaly]
sensitivity = 150

[channels]
history_size = 10
history_ttl = 1h
channel_chars = a-zA-Z0-9_-

[namespace.chat]
presence = on
allow_history = 1
force_recovery = true
history_size = 5
max_channel_length = 64
""", flags=1)
    config('set-lines', """server.backlog=2048
namespace.chat.history_size=10
channels.channel_chars=-a-z-
auth.hmac_secret= spaced value\\n
websocket.pong_timeout=100ms
namespace.x.presence=true
server.listen=[::]:0
""")
    # nasty ones
    config('nasty-duplicate-key', '[server]\nbacklog = 1\nbacklog = 2\n')
    config('nasty-duplicate-section', '[server]\n[auth]\n[server]\n')
    config('nasty-unknown', '[server]\nfrobnicate = 1\n[nope]\nx = 1\n')
    config('nasty-key-before-section', 'backlog = 1\n')
    config('nasty-out-of-range', '[server]\nbacklog = 99999999999999999999999\n'
           '[websocket]\nmax_frame_size = 1G\n')
    config('nasty-bad-suffixes', '[websocket]\nping_interval = 5x\npong_timeout = -1s\n'
           '[limits]\noutbound_soft_limit = 1.5M\n')
    config('nasty-soft-above-hard', '[limits]\noutbound_soft_limit = 1GiB\noutbound_hard_limit = 1KiB\n')
    config('nasty-namespace-names', '[namespace.]\n[namespace.a.b]\n[namespaces.chat]\n'
           '[namespace.chat]\nchannel_chars = z-a\n')
    config('nasty-nul', '[server]\nnode_name = a\0b\n')
    config('nasty-bad-escape', '[auth]\nhmac_secret = \\q\\\n')
    config('nasty-set-lines', '=\n.=\nserver.=1\n.backlog=1\nserver.backlog\n'
           'namespace..history_size=1\nnamespace.chat.=1\n')
    # crier_config_set() took it, and the dump then did not load back
    config('crash-set-invalid-utf8', b'auth.hmac_secret= spaced \xcd0\nserver.node_name=\xff\n')
    config('nasty-addresses', '[::1\n[::1]:\nhost:65536\n:80\n[]:1\nhost:-1\n')


# ---- fuzz-json-compact: the JSON text -------------------------------------

def json_seeds():
    seeds = {
        'object': '{"a":1,"b":[true,false,null],"c":{"d":"e"}}',
        'spaced': ' \t{ "a" : [ 1 , 2 ] ,\r\n "b" : "x y" }\n',
        'numbers': '[0,-0,1.5,-2e10,3E+2,4e-2,123456789012345678901234567890,1e400]',
        'strings': '["\\"\\\\\\/\\b\\f\\n\\r\\t","\\u00e9\\u2028","caf\u00e9 \U0001F600"]',
        'scalar-string': '"x"',
        'scalar-number': '42',
        'scalar-literal': 'null',
        'bom': '\ufeff{"a":1}',
        'empty-containers': '[{},[],{"":[]}]',
        'nested-256': '[' * 256 + ']' * 256,
        'nasty-nested-257': '[' * 257 + ']' * 257,
        'nasty-nul-escape': '"a\\u0000b"',
        'surrogate-pair': '"\\ud83d\\ude00"',
        'crash-lone-surrogate': '["\\ud800","\\udc00x"]',
        'crash-high-surrogate-at-end': '"\\udbff"',
        'crash-reversed-surrogates': '"\\ude00\\ud83d"',
        'nasty-trailing-comma': '[1,]',
        'nasty-leading-zero': '[01]',
        'nasty-single-quotes': "{'a':1}",
        'nasty-trailing-data': '{} {}',
        'nasty-raw-newline-in-string': '"a\nb"',
        'nasty-nan': '[NaN,Infinity]',
        'nasty-comment': '[1/*c*/]',
        'nasty-bad-utf8': b'["\xc3\x28"]',
        'nasty-truncated': '{"a":[1,2',
        'nasty-bad-escape': '"\\x41"',
        'nasty-short-unicode': '"\\u12"',
        'nasty-empty': '',
    }
    for name, text in seeds.items():
        write('fuzz-json-compact', name, text)


# ---- fuzz-admin-protocol: one message -------------------------------------

STATS = ('{"timestamp":1795866761366,"interval":1.0,"uptime":3,"connections":12.0,'
         '"sessions":0.0,"channels":0.0,"subscriptions":0.0,"connects_per_s":0.0,'
         '"disconnects_per_s":0.0,"publishes_per_s":0.0,"deliveries_per_s":0.0,'
         '"bytes_in_per_s":0.0,"bytes_out_per_s":0.0,"latency_mean_ms":null,'
         '"latency_p50_ms":null,"latency_p99_ms":null,"evictions_per_s":0.0,'
         '"rejections_per_s":0.0,"protocol_errors_per_s":0.0,"refusals_per_s":0.0,'
         '"history_bytes":0.0,"rss_bytes":0.0,"rss_per_connection":0.0,"cpu_percent":0.0,'
         '"loop_lag_ms":0.0,"broker_up":0.0,"alerts_active":0.0,"admin_connections":0.0,'
         '"connects_total":0,"disconnects_total":0,"publications_total":0,'
         '"deliveries_total":0,"bytes_in_total":0,"bytes_out_total":0,"evictions_total":0,'
         '"rejections_total":0,"protocol_errors_total":0,"refusals_total":0,'
         '"cpu_seconds_total":0.0,"latency_sum_seconds":0.0,"latency_count":0,'
         '"transports":[{"name":"websocket","rate":1.5,"total":10}],'
         '"disconnect_reasons":[{"name":"3501 bad request","rate":0.0,"total":2}],'
         '"rejection_reasons":[]}')
SESSION = ('{"id":"9f1c0b7a","user":"alice","transport":"websocket","remote":"10.0.0.8:4011",'
           '"user_agent":"ua","connected_at":1795866760897,"expire_at":0,"subscriptions":2,'
           '"pubs_out":5,"commands_in":3,"bytes_in":100,"bytes_out":null,"queued_bytes":0}')
CHANNEL = '{"channel":"news","subscribers":3,"publish_rate":null,"offset":7,"epoch":"abcd"}'
ALERT = ('{"id":1,"metric":"connects_per_s","kind":"spike","severity":"warning",'
         '"start_time":1795866760897,"end_time":null,"observed":950.0,"expected":12.0,'
         '"score":2.5,"explanation":"connects/s 950 vs expected 12"}')
HELLO = ('{"protocol":1,"node":"web-1","version":"0.1.0","uptime":5,"started_at":1795866760897,'
         '"pid":42,"config":"[server]\\nbacklog = 10\\n"}')
HISTORY = ('{"interval_ms":1000,"timestamps":[1000,2000,3000],'
           '"series":{"connections":[1.0,null,3.5]}}')


def admin_seeds():
    requests = {
        'req-hello': '{"id":1,"type":"hello","params":{"protocol":1,"client":"crierctl 0.1.0"}}',
        'req-get-stats': '{"id":2,"type":"get_stats"}',
        'req-watch-stats-off': '{"id":3,"type":"watch_stats","params":{"enable":false}}',
        'req-get-history': '{"id":4,"type":"get_history","params":{"metrics":["connections",'
                           '"latency_p99_ms"],"since":1795866700000}}',
        'req-list-sessions': '{"id":5,"type":"list_sessions","params":{"user":"ali","sort":"bytes",'
                             '"order":"desc","page":2,"page_size":2,"transport":"ws",'
                             '"remote":"10.","channel":"news"}}',
        'req-watch-sessions': '{"id":6,"type":"watch_sessions"}',
        'req-inspect-session': '{"id":7,"type":"inspect_session","params":{"session":"9f1c"}}',
        'req-kick': '{"id":8,"type":"kick","params":{"session":"9f1c","reconnect":false,"reason":"banned"}}',
        'req-kick-user-code': '{"id":9,"type":"kick","params":{"user":"mallory","code":4501}}',
        'req-unsubscribe': '{"id":10,"type":"unsubscribe","params":{"session":"9f1c","channel":"news"}}',
        'req-broadcast': '{"id":11,"type":"broadcast","params":{"channels":["news","nope:x"],'
                         '"data":"{\\"text\\":\\"hello\\"}"}}',
        'req-list-channels': '{"id":12,"type":"list_channels","params":{"sort":"subscribers",'
                             '"order":"desc","filter":"n"}}',
        'req-inspect-channel': '{"id":13,"type":"inspect_channel","params":{"channel":"news"}}',
        'req-list-alerts': '{"id":14,"type":"list_alerts","params":{"include_resolved":false}}',
        'req-watch-alerts': '{"id":15,"type":"watch_alerts","params":{"enable":true}}',
        'nasty-req-unknown-member': '{"id":1,"type":"get_stats","params":{"x":1},"extra":2}',
        'nasty-req-bad-types': '{"id":"1","type":5,"params":[]}',
        'nasty-req-id-range': '{"id":9007199254740992,"type":"get_stats"}',
        'nasty-req-page-size': '{"id":1,"type":"list_sessions","params":{"page_size":5000,"page":0}}',
        'nasty-req-kick-conflict': '{"id":1,"type":"kick","params":{"user":"u","code":3000,"reconnect":false}}',
        'nasty-req-broadcast-bad-data': '{"id":1,"type":"broadcast","params":{"channels":[],"data":"{"}}',
        'nasty-req-long-type': '{"id":1,"type":"' + 'x' * 200 + '"}',
        'nasty-not-json': '{"id":1,',
        'nasty-bad-utf8': b'{"id":1,"type":"\xff"}',
    }
    messages = {
        'msg-reply-stats': '{"id":2,"result":%s}' % STATS,
        'msg-event-stats': '{"event":"stats","stats":%s}' % STATS,
        'msg-reply-history': '{"id":4,"result":%s}' % HISTORY,
        'msg-event-session': '{"event":"session_opened","session":%s}' % SESSION,
        'msg-reply-channels': '{"id":12,"result":{"total":1,"channels":[%s]}}' % CHANNEL,
        'msg-event-alert': '{"event":"alert_raised","alert":%s}' % ALERT,
        'msg-reply-hello': '{"id":1,"result":%s}' % HELLO,
        'msg-error': '{"id":null,"error":{"code":"invalid_params","message":"params.page_size: too big"}}',
        'msg-error-unknown-code': '{"id":3,"error":{"code":"whatever"}}',
        'payload-session': SESSION,
        'payload-channel': CHANNEL,
        'nasty-msg-history-ragged': '{"id":4,"result":{"interval_ms":1000,"timestamps":[1,2],'
                                    '"series":{"connections":[1.0]}}}',
        'nasty-msg-stats-types': '{"event":"stats","stats":{"timestamp":"x","transports":{}}}',
        'nasty-msg-neither': '{"result":{}}',
    }
    for name, text in list(requests.items()) + list(messages.items()):
        write('fuzz-admin-protocol', name, text)


# ---- fuzz-sse-cursor: a Last-Event-ID or long-poll cursor -----------------

def cursor_seeds():
    seeds = {
        'single': 'a1b2:17',
        'compound': 'chat=a1b2:17,news=c3d4:0',
        'poll-session': '0f3a9c.42/chat=a1b2:17,news=c3d4:5',
        'poll-session-single': 'abc.0/ep:1',
        'channel-with-specials': 'ns:room#u1=e-_9:3,a=b=c:4',
        'nasty-empty-items': ',,',
        'nasty-trailing-comma': 'a=e:1,',
        'nasty-empty-channel': '=e:1',
        'nasty-offset-overflow': 'e:18446744073709551616',
        'nasty-offset-max': 'e:18446744073709551615',
        'nasty-unnamed-in-list': 'e:1,a=e:2',
        'nasty-bad-epoch': 'a=e.x:1',
        'nasty-session-no-slash': 'abc.12',
        'nasty-seq-overflow': 'ab.99999999999999999999/e:1',
        'nasty-no-offset': 'a=e:',
    }
    for name, text in seeds.items():
        write('fuzz-sse-cursor', name, text)


if __name__ == '__main__':
    ws_seeds()
    cf_seeds()
    jwt_seeds()
    config_seeds()
    json_seeds()
    admin_seeds()
    cursor_seeds()
