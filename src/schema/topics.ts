/** Event bus topics the API publishes and subscribes to. */
export const SYSTEMS_TOPIC = "systems";
