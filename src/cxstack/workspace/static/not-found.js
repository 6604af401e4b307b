// The not-found page: only the header's Sign out button is live.
import { wireSignOut } from "./top.js";

wireSignOut();
