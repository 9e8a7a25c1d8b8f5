// Browser notifications while the page is hidden: a mention of the viewer, or a message of a
// direct conversation. Permission is asked for only after a click on the page's own button
// (browsers ignore, and users resent, a prompt out of nowhere); the tab title counts what
// arrived while the page was hidden. Nothing is shown for a page being looked at.

export class Notifier {
  /**
   * @param {HTMLButtonElement | null} button "Notify me", shown while permission has not been
   *   asked; without one, the page notifies only if permission was given on another page
   * @param {object} [options]
   * @param {(url: string) => void} [options.open] shows the page a notification is about when
   *   it is clicked (the chat page switches room in place); by default, loads it
   */
  constructor(button = null, { open = (url) => window.location.assign(url) } = {}) {
    this.button = button;
    this.open = open;
    this.baseTitle = document.title;
    this.missed = 0;
    const supported = "Notification" in window;
    if (button) {
      button.hidden = !supported || Notification.permission !== "default";
      button.addEventListener("click", async () => {
        await Notification.requestPermission();
        button.hidden = Notification.permission !== "default";
        if (button.hidden) document.getElementById("message-input")?.focus(); // not lost on <body>
      });
    }
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible") this.seen();
    });
  }

  get hidden() {
    return document.visibilityState === "hidden";
  }

  /** Count it in the title and, if allowed, raise a notification; only while hidden. */
  notify({ title, body, url, tag }) {
    if (!this.hidden) return false;
    this.missed += 1;
    document.title = `(${this.missed}) ${this.baseTitle}`;
    if ("Notification" in window && Notification.permission === "granted") {
      const shown = new Notification(title, { body: body.slice(0, 200), tag });
      shown.addEventListener("click", () => {
        window.focus();
        if (url && url !== window.location.pathname) this.open(url);
        shown.close();
      });
    }
    return true;
  }

  /** The page now shows another room: its title, still counting what was missed. */
  setBaseTitle(title) {
    this.baseTitle = title;
    document.title = this.missed ? `(${this.missed}) ${title}` : title;
  }

  seen() {
    this.missed = 0;
    document.title = this.baseTitle;
  }
}
