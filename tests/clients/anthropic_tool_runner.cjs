// Drives @anthropic-ai/sdk's beta toolRunner against ANTHROPIC_BASE_URL: one tool, `get_weather`,
// run locally; prints each message of the loop as one JSON line, then {"final": <last message>}.
// Loaded by tests/clients/test_anthropic_sdk_js.py with the SDK from $ASGI_TRANSLATE_CLIENTS.
const path = require("node:path");
const sdkDir = path.join(process.env.ASGI_TRANSLATE_CLIENTS, "node_modules", "@anthropic-ai", "sdk");
const Anthropic = require(path.join(sdkDir, "index.js")).default;
const { betaTool } = require(path.join(sdkDir, "helpers", "beta", "json-schema.js"));

async function main() {
  const client = new Anthropic({ baseURL: process.env.ANTHROPIC_BASE_URL, apiKey: "sk-dummy", maxRetries: 0 });
  const weather = betaTool({
    name: "get_weather",
    description: "The weather in a city",
    inputSchema: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
    run: async (input) => `Sunny, 21 C in ${input.city}`,
  });
  const runner = client.beta.messages.toolRunner({
    model: process.env.MODEL || "claude-opus-5-5",
    max_tokens: 1024,
    messages: [{ role: "user", content: "What is the weather in Paris?" }],
    tools: [weather],
    max_iterations: 4,
  });
  let last = null;
  for await (const message of runner) {
    console.log(JSON.stringify({ message }));
    last = message;
  }
  console.log(JSON.stringify({ final: last }));
}

main().catch((error) => {
  console.log(JSON.stringify({ error: String(error), status: error.status ?? null }));
  process.exit(1);
});
