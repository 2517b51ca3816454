// Files embedded with `import x from "./file" with { type: "file" }` resolve to a path.
declare module "*.so" {
  const path: string;
  export default path;
}
declare module "*.bin" {
  const path: string;
  export default path;
}
