"""The data layer: builders' base class, pinned sources, archives, images, the build (scratch
folder, then into the datasets cache), the Hub card, and finding a built set again."""
