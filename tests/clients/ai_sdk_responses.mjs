// The Vercel AI SDK's Responses provider (@ai-sdk/openai `.responses()`, store: true by default) as a
// client of the proxy: run by tests/clients/test_ai_sdk.py with the proxy's base URL in BASE_URL.
// With store on, the provider replays earlier output by reference ({"type": "item_reference",
// "id": "msg_..."} for text, "rs_..." for reasoning) instead of sending it again.
//
//   ASGI_TRANSLATE_CLIENTS=... BASE_URL=... node ai_sdk_responses.mjs conversation|tool-loop
// prints one JSON line: what the SDK ended up with. The packages are the pinned ones in
// $ASGI_TRANSLATE_CLIENTS/node_modules (.ci/run installs them), resolved from there.
import { createRequire } from "node:module";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const require = createRequire(join(process.env.ASGI_TRANSLATE_CLIENTS, "package.json"));
const load = (name) => import(pathToFileURL(require.resolve(name)).href);
const { createOpenAI } = await load("@ai-sdk/openai");
const { generateText, stepCountIs, tool, jsonSchema } = await load("ai");

const provider = createOpenAI({ baseURL: process.env.BASE_URL, apiKey: "unused" });

async function conversation() {
  // A non-reasoning model id: every assistant text comes back as an item_reference.
  const model = provider.responses("gpt-4.1-mini");
  const messages = [{ role: "user", content: "Hello, who are you?" }];
  const texts = [];
  for (const question of ["And what can you do?", "Thanks, bye."]) {
    const result = await generateText({ model, messages });
    texts.push(result.text);
    messages.push(...result.response.messages, { role: "user", content: question });
  }
  const last = await generateText({ model, messages });
  texts.push(last.text);
  return { texts };
}

async function toolLoop() {
  // A reasoning model id: reasoning and the text after it are replayed as item_reference.
  const model = provider.responses("gpt-5");
  const calls = [];
  const getWeather = tool({
    description: "The weather in a city",
    inputSchema: jsonSchema({
      type: "object",
      properties: { city: { type: "string" } },
      required: ["city"],
      additionalProperties: false,
    }),
    execute: async ({ city }) => {
      calls.push(city);
      return { city, forecast: "sunny", celsius: 21 };
    },
  });
  const messages = [{ role: "user", content: "What is the weather in Paris?" }];
  const first = await generateText({
    model,
    messages,
    tools: { get_weather: getWeather },
    stopWhen: stepCountIs(4),
    providerOptions: { openai: { reasoningEffort: "low", reasoningSummary: "auto" } },
  });
  messages.push(...first.response.messages, { role: "user", content: "And tomorrow?" });
  const second = await generateText({
    model,
    messages,
    tools: { get_weather: getWeather },
    stopWhen: stepCountIs(4),
    providerOptions: { openai: { reasoningEffort: "low", reasoningSummary: "auto" } },
  });
  return {
    calls,
    texts: [first.text, second.text],
    reasoning: [first.reasoningText ?? null, second.reasoningText ?? null],
    steps: [first.steps.length, second.steps.length],
  };
}

const scenarios = { conversation, "tool-loop": toolLoop };
const run = scenarios[process.argv[2]];
if (!run) {
  console.error(`unknown scenario ${process.argv[2]}`);
  process.exit(2);
}
try {
  console.log(JSON.stringify(await run()));
} catch (error) {
  console.error(String(error?.stack ?? error));
  if (error?.responseBody) console.error(error.responseBody);
  process.exit(1);
}
