// The phone layout's slide-out panels (the sidebar on the left, people and details on the
// right): a header button opens one (`aria-expanded`), focus moves into it; Escape, the
// backdrop or the button close it and focus goes back to the button.

const PHONE = window.matchMedia("(max-width: 767.98px)");

export class Panels {
  /** @param {Array<HTMLButtonElement>} toggles buttons with `aria-controls`; backdrop a div */
  constructor(toggles, backdrop) {
    this.toggles = toggles;
    this.backdrop = backdrop;
    this.openToggle = null;
    for (const toggle of toggles) {
      toggle.addEventListener("click", () => {
        if (this.openToggle === toggle) this.close();
        else this.open(toggle);
      });
    }
    backdrop.addEventListener("click", () => this.close());
    for (const button of document.querySelectorAll("[data-close-panel]")) {
      button.addEventListener("click", () => this.close());
    }
    document.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && this.openToggle && !event.defaultPrevented) {
        if (document.querySelector("dialog[open]")) return;
        this.close();
      }
    });
    PHONE.addEventListener("change", () => this.close({ focus: false }));
  }

  panel(toggle) {
    return document.getElementById(toggle.getAttribute("aria-controls"));
  }

  open(toggle) {
    this.close({ focus: false });
    this.openToggle = toggle;
    toggle.setAttribute("aria-expanded", "true");
    const panel = this.panel(toggle);
    panel.classList.add("open");
    this.backdrop.hidden = false;
    const first = panel.querySelector("a[aria-current]") ?? panel.querySelector("a, button, [tabindex='0']");
    (first ?? panel).focus();
  }

  /** Close the open panel (a room opened from it: `focus: false`, the composer takes it). */
  close({ focus = true } = {}) {
    const toggle = this.openToggle;
    if (!toggle) return;
    this.openToggle = null;
    toggle.setAttribute("aria-expanded", "false");
    this.panel(toggle).classList.remove("open");
    this.backdrop.hidden = true;
    if (focus) toggle.focus();
  }
}
