// MJML's own list of components: each tag's attributes, the tags it may hold, whether its
// content is raw text (an ending tag). Writes the JSON that digest/rendering checks templates
// against (digest/rendering/mjml_schema.json); tests/test_template_check.py compares the two.
//   node .ci/node/mjml_schema.js > digest/rendering/mjml_schema.json
require('mjml'); // registers the core components and their dependencies
const { components } = require('mjml-core');
const { dependencies } = require('mjml-validator');

const schema = { version: require('mjml/package.json').version, tags: {} };
const names = new Set([...Object.keys(components), ...Object.keys(dependencies)]);
for (const name of [...names].sort()) {
  const component = components[name];
  const children = dependencies[name] || [];
  schema.tags[name] = {
    attributes: Object.keys((component && component.allowedAttributes) || {}).sort(),
    children: children.filter((child) => typeof child === 'string').sort(),
    any_child: children.some((child) => child instanceof RegExp),
    ending: Boolean(component && component.endingTag),
  };
}
process.stdout.write(`${JSON.stringify(schema, null, 1)}\n`);
