// The catalog keeps each policy's expressions as written next to their parsed form, through
// CREATE, ALTER (a changed clause replaced, the other kept) and RENAME, and across a reopen.
import { expect, test } from "bun:test";
import { Engine } from "../../../src/db/engine.ts";
import { openStore } from "../../../src/db/store/index.ts";
import { tempStore } from "../../helpers/store.ts";

test("policy text survives ALTER, RENAME and a reopen", async () => {
  const t = tempStore("file");
  let engine = await Engine.open(t.store);
  const texts = async () =>
    (
      await engine.store.execute(`SELECT name, data FROM "_cave_objects" WHERE kind = 'policy' ORDER BY name`, [])
    ).rows.map(([name, data]) => {
      const d = JSON.parse(String(data));
      return [name, d.usingSql, d.checkSql];
    });
  try {
    await engine.query("CREATE TABLE docs (id int PRIMARY KEY, owner uuid, team int)");
    await engine.query(
      "CREATE POLICY mine ON docs FOR UPDATE USING (owner = auth.uid()) WITH CHECK (team IN (SELECT 1 /* one ) */))",
    );
    expect(await texts()).toEqual([["mine", "owner = auth.uid()", "team IN (SELECT 1 /* one ) */)"]]);
    await engine.query("ALTER POLICY mine ON docs USING (owner = auth.uid() OR team = 7)");
    expect(await texts()).toEqual([["mine", "owner = auth.uid() OR team = 7", "team IN (SELECT 1 /* one ) */)"]]);
    await engine.query("ALTER POLICY mine ON docs RENAME TO ours");
    engine.close();
    engine = await Engine.open(openStore(t.path));
    expect(await texts()).toEqual([["ours", "owner = auth.uid() OR team = 7", "team IN (SELECT 1 /* one ) */)"]]);
  } finally {
    engine.close();
    t.dispose();
  }
});
