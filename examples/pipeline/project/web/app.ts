import { fetchItems } from "./client";
export { fetchItems };
const lazy = () => import("./client");
