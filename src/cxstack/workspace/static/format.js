// Small helpers the workspace's components share: words for values, and times as people read them.

export const label = (word) => String(word ?? "").charAt(0).toUpperCase() + String(word ?? "").slice(1);

// How long ago `since` was, in one unit: "now", "4 min", "2 h", "3 d".
export function waited(since, now = Date.now()) {
  if (!since) return "";
  const seconds = Math.max(0, Math.round((now - new Date(since).getTime()) / 1000));
  if (seconds < 60) return "now";
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min`;
  if (seconds < 86400) return `${Math.floor(seconds / 3600)} h`;
  return `${Math.floor(seconds / 86400)} d`;
}

export const timeOf = (at) =>
  new Date(at).toLocaleString([], { dateStyle: "short", timeStyle: "short" });

// A customer as people name them: their name, else their email or phone.
export const customerName = (c) => c?.name || c?.email || c?.phone || "Unnamed customer";

// A note's mentions as the reader sees them: @[Ann Lee](usr_…) reads "@Ann Lee".
export const shownMentions = (body) => body.replace(/@\[([^\]\n]{1,200})\]\(usr_[0-9A-Za-z]{1,40}\)/g, "@$1");

// Where to sign in again and come back to this page.
export const signInAgainUrl = () => `/app/sign-in?next=${encodeURIComponent(location.pathname)}`;
