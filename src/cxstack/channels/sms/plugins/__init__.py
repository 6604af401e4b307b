"""SMS provider adapters behind one typed base class (``base.SmsProvider``)."""
