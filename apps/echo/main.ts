/**
 * echo: a second example app. Answers every request with its method and path.
 */

const port = Number(Deno.env.get("PORT") ?? "8000");
const server = Deno.serve({ hostname: "0.0.0.0", port, onListen: () => {} }, (req) => {
  const url = new URL(req.url);
  return new Response(`echo ${req.method} ${url.pathname}${url.search}\n`);
});
Deno.addSignalListener("SIGTERM", async () => {
  await server.shutdown();
  Deno.exit(0);
});
