"""The in-app channel: chat inside a company's own mobile or web app, over REST or the live-chat socket,
with reply notifications pushed to users who have no socket open."""
