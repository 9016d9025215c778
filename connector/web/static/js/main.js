// The page's entry point: which page the server rendered decides what to load.
import { home } from "./home.js";
import { order } from "./order.js";
import { orders } from "./orders.js";
import { settingsPage } from "./settings.js";
import { fail } from "./ui.js";

const PAGES = { home, orders, settings: settingsPage };

async function start() {
  const main = document.getElementById("main");
  const { page, orderId } = document.body.dataset;
  try {
    if (page === "orders" && orderId) await order(main, orderId);
    else await PAGES[page](main);
  } catch (error) {
    fail(main, error);
  } finally {
    main.removeAttribute("aria-busy");
  }
}

start();
