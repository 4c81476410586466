// A stand-in for Stripe.js (https://js.stripe.com/<version>/stripe.js) in the browser tests: the
// test routes js.stripe.com here, with __FAKE_STRIPE_API__ replaced by the URL of the fake Stripe
// API (tests/stripe_fake.py) on 127.0.0.1. It implements only what web/src/watch.ts calls:
//
//   Stripe(publishableKey)                      -> stripe (what @stripe/stripe-js's loadStripe returns)
//   stripe.elements({clientSecret})             -> elements
//   elements.create("payment")                  -> a Payment Element: on("ready" | "loaderror" | "change"),
//                                                  mount(selector | element), focus(), unmount(), destroy()
//   stripe.confirmPayment({elements, redirect, confirmParams})
//       -> POST /v1/payment_intents/<id>/confirm at the fake API, authenticated as Stripe.js is: the
//          publishable key as the `key` form field and the intent's client_secret; the card number
//          typed picks the test payment method (4000000000000002: pm_card_chargeDeclined, any other
//          full number: pm_card_visa) -> {paymentIntent} or {error} (Stripe's error object)
//
// The real Payment Element is an iframe from js.stripe.com; this one is a labelled input in the
// page, so that a test types into it as a shopper would.
(() => {
  "use strict";
  const API = "__FAKE_STRIPE_API__";
  const DECLINED_CARD = "4000000000000002";
  // The version the loader asked for (its path: /v3/ or a release train such as /basil/).
  const src = (document.currentScript && document.currentScript.src) || "";
  const asked = /^https:\/\/js\.stripe\.com\/([a-z0-9]+)\//.exec(src);
  const version = asked ? (asked[1] === "v3" ? 3 : asked[1]) : 3;
  let mounted = 0;

  class IntegrationError extends Error {
    constructor(message) {
      super(message);
      this.name = "IntegrationError";
    }
  }

  class PaymentElement {
    constructor(elements) {
      this._elements = elements;
      this._handlers = {};
      this._root = null;
      this._input = null;
      this._destroyed = false;
    }

    on(event, handler) {
      (this._handlers[event] = this._handlers[event] || []).push(handler);
      return this;
    }

    off(event, handler) {
      this._handlers[event] = (this._handlers[event] || []).filter((known) => known !== handler);
      return this;
    }

    _emit(event, payload) {
      for (const handler of this._handlers[event] || []) handler({ elementType: "payment", ...payload });
    }

    mount(target) {
      if (this._destroyed) throw new IntegrationError("This Element has already been destroyed.");
      const container = typeof target === "string" ? document.querySelector(target) : target;
      if (!container || !(container instanceof Element)) {
        throw new IntegrationError("The selector you specified (" + target + ") applies to no DOM elements.");
      }
      mounted += 1;
      const id = "fake-stripe-card-" + mounted;
      const root = document.createElement("div");
      root.className = "fake-stripe-payment-element";
      root.dataset.testid = "fake-payment-element";
      root.dataset.intent = this._elements._clientSecret.split("_secret_")[0];
      const label = document.createElement("label");
      label.htmlFor = id;
      label.textContent = "Card number";
      const input = document.createElement("input");
      input.id = id;
      input.name = "cardnumber";
      input.inputMode = "numeric";
      input.autocomplete = "cc-number";
      input.placeholder = "1234 1234 1234 1234";
      input.addEventListener("input", () => {
        const digits = input.value.replace(/\D/g, "");
        this._emit("change", { complete: digits.length >= 15, empty: digits.length === 0, value: { type: "card" } });
      });
      root.append(label, input);
      container.append(root);
      this._root = root;
      this._input = input;
      setTimeout(() => this._emit("ready", {}), 0); // as the real one, once its iframe has loaded
    }

    focus() {
      if (this._input) this._input.focus();
    }

    unmount() {
      if (this._root) this._root.remove();
      this._root = null;
      this._input = null;
    }

    destroy() {
      this.unmount();
      this._destroyed = true;
      this._elements._payment = null;
    }

    _cardNumber() {
      return this._input ? this._input.value.replace(/\D/g, "") : null;
    }
  }

  class Elements {
    constructor(stripe, clientSecret) {
      this._stripe = stripe;
      this._clientSecret = clientSecret;
      this._payment = null;
    }

    create(type) {
      if (type !== "payment") throw new IntegrationError("This stand-in for Stripe.js makes only the Payment Element.");
      if (this._payment) throw new IntegrationError("Can only create one Element of type payment.");
      this._payment = new PaymentElement(this);
      return this._payment;
    }

    getElement(type) {
      return type === "payment" ? this._payment : null;
    }
  }

  function Stripe(publishableKey) {
    if (typeof publishableKey !== "string" || !/^pk_(test|live)_\w+$/.test(publishableKey)) {
      throw new IntegrationError("Invalid value for Stripe(): apiKey should be a publishable key.");
    }
    const wrappers = [];
    const stripe = {
      elements(options) {
        const clientSecret = options && options.clientSecret;
        if (typeof clientSecret !== "string" || !/^pi_\w+_secret_\w+$/.test(clientSecret)) {
          throw new IntegrationError("Invalid value for elements(): clientSecret should be a client secret.");
        }
        return new Elements(stripe, clientSecret);
      },

      async confirmPayment(options) {
        const { elements, redirect, confirmParams } = options || {};
        if (!(elements instanceof Elements) || elements._stripe !== stripe) {
          throw new IntegrationError("Invalid value for confirmPayment(): elements should be an Elements group.");
        }
        if (redirect !== "if_required" && !(confirmParams && confirmParams.return_url)) {
          throw new IntegrationError("confirmPayment(): the `confirmParams.return_url` argument is required.");
        }
        const payment = elements._payment;
        const number = payment && payment._cardNumber();
        if (!number || number.length < 15) {
          return { error: { type: "validation_error", code: "incomplete_number", message: "Your card number is incomplete." } };
        }
        const clientSecret = elements._clientSecret;
        const intentId = clientSecret.split("_secret_")[0];
        const body = new URLSearchParams({
          payment_method: number === DECLINED_CARD ? "pm_card_chargeDeclined" : "pm_card_visa",
          key: publishableKey,
          client_secret: clientSecret,
        });
        if (confirmParams && confirmParams.return_url) body.set("return_url", confirmParams.return_url);
        let response;
        try {
          response = await fetch(`${API}/v1/payment_intents/${encodeURIComponent(intentId)}/confirm`, {
            method: "POST", body, credentials: "omit",
          });
        } catch (error) {
          return { error: { type: "api_connection_error", message: "We could not reach Stripe. Check your connection." } };
        }
        const answer = await response.json().catch(() => ({}));
        if (response.ok) return { paymentIntent: answer };
        return { error: answer.error || { type: "api_error", message: `Stripe answered HTTP ${response.status}.` } };
      },

      _registerWrapper(wrapper) {
        wrappers.push(wrapper);
      },
      _wrappers: wrappers,
    };
    return stripe;
  }

  Stripe.version = version;
  window.Stripe = Stripe;
})();
