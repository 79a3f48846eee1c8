// Types for tether.js, the browser client of tether (reference: docs/client.md).
// The script is a classic deferred script configured by its own tag:
//   <script src="/_tether/tether.js?v=…" defer data-tether='{…}'></script>
// It defines `window.tether` and dispatches `tether:*` events on `document`.

export type TetherState = "active" | "warning" | "ended";

/** Why a session ended, as the server says in its 401 body (docs/client.md). */
export type TetherEndReason = "idle" | "absolute" | "logout" | "revoked" | "none";

/** The body of `GET {prefix}/status` and `POST {prefix}/heartbeat` (200). Seconds. */
export interface TetherSessionState {
  state: "active";
  idle_remaining: number;
  absolute_remaining: number;
  idle_timeout: number;
  warn_before: number;
}

export interface TetherEndedState {
  state: "ended";
  reason: TetherEndReason;
}

export interface TetherTexts {
  /** The dialog's title. */
  title?: string;
  /** The dialog's message; `{time}` becomes the countdown (m:ss). */
  body?: string;
  /** The message when the absolute limit is near (a heartbeat cannot help). */
  absolute?: string;
  stay?: string;
  /** The button that acknowledges the absolute-limit warning. */
  ok?: string;
  signout?: string;
  /** The polite live-region announcement at coarse steps; `{time}` e.g. "30 seconds". */
  left?: string;
}

/** What `data-tether` carries (rendered by `tether.script_tag()`). */
export interface TetherConfig {
  heartbeat: string;
  status: string;
  end: string;
  login_url: string;
  session: TetherSessionState | TetherEndedState;
  /** A short hash of the signed-in user: form drafts are restored only to them. */
  user?: string | null;
  /** false: no dialog and no heart; the app reacts to the events. Default true. */
  ui?: boolean;
  /** Show the ♥ that beats once per successful heartbeat. Default false. */
  heart?: boolean;
  texts?: TetherTexts;
}

export interface TetherApi {
  /** Ask the server to extend the session now (one heartbeat). */
  extend(): void;
  /** Sign out in every tab (POST {prefix}/end). */
  end(): void;
  readonly state: TetherState;
  /** False while the server cannot be reached (retrying with back-off). */
  readonly online: boolean;
  /** True in the one tab of this browser that keeps the deadline. */
  readonly leader: boolean;
  /** When the session ends if nothing happens (epoch ms), or null once ended. */
  readonly expiresAt: number | null;
  /** Requests in flight. */
  readonly pending: number;
}

export interface TetherInfo {
  /** Seconds until the session ends if nothing happens. */
  remaining: number;
  /** True when the absolute limit binds (a heartbeat cannot extend). */
  absolute: boolean;
  leader: boolean;
}

export interface TetherEndInfo {
  reason: TetherEndReason;
}

declare global {
  interface Window {
    tether?: TetherApi;
  }
  interface DocumentEventMap {
    /** A heartbeat succeeded (fired in every tab). */
    "tether:beat": CustomEvent<TetherInfo>;
    /** The warning is shown (every tab). */
    "tether:warning": CustomEvent<TetherInfo>;
    /** The session was extended while the warning was showing. */
    "tether:extended": CustomEvent<TetherInfo>;
    /** The server confirmed the end. Cancelable: preventDefault() keeps the page (no
     * draft saving, no navigation to `login_url?next=<page>&reason=<reason>`). */
    "tether:expired": CustomEvent<TetherEndInfo>;
    /** Signed out (logout), in this tab or another. Cancelable like tether:expired;
     * otherwise the page goes to `login_url?reason=logout`. */
    "tether:ended": CustomEvent<TetherEndInfo>;
    "tether:offline": CustomEvent<Record<string, never>>;
    "tether:online": CustomEvent<Record<string, never>>;
    /** Form fields were restored from a draft saved when the session ended. */
    "tether:restored": CustomEvent<{ fields: number }>;
  }
}
