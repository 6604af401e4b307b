"""``cxstack demo``: a demo tenant with a lived-in customer record, served in one command.

The demo migrates the database in ``CXSTACK_DATABASE_URL`` (by default the embedded file
``./var/cxstack.db``), creates the tenant ``demo`` with the fixed API key ``DEMO_API_KEY`` and seeds it
(``seeding``): accounts, customers with their identities (email, phone, CRM ids, webchat and in-app ids),
conversations on every channel with their messages, cases, notes and tags, spread over the last two weeks
so that timelines and the event log read like a real history (``customers``), and today's inbox: work
open, pending and queued on every channel, an email thread, a note that mentions the demo agent
(``inbox``); its people and queues (``staff``) and each channel (``channels``). Then it serves the API and
the inbound SMTP listener, with the demo's own stand-ins for Twilio and an SMTP relay (``providers``) in
the same process, and prints commands that try the API and every channel (``guide``, ``command``).

Seeding is idempotent: each demo customer is recognised by its CRM id (an ``external`` identity) and
seeded with everything around it only when it is missing, so running the demo again writes nothing new.
"""

from cxstack.cli.demo.command import demo as demo
from cxstack.cli.demo.customers import DEMO_CUSTOMERS as DEMO_CUSTOMERS
from cxstack.cli.demo.seeding import DEMO_API_KEY as DEMO_API_KEY
from cxstack.cli.demo.seeding import prepare_demo as prepare_demo
