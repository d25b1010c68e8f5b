#include "protocol/identity.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "tests/protocol/test_values.h"

namespace polder {
namespace {

class IdentityFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/polder-identity-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string path(const char* name) const { return dir_ + "/" + name; }
  std::string dir_;
};

TEST_F(IdentityFileTest, SavesWithMode0600AndLoadsSameKey) {
  Identity id = Identity::generate();
  ASSERT_TRUE(id.save(path("node.key")).is_ok());
  struct stat st;
  ASSERT_EQ(stat(path("node.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto loaded = Identity::load(path("node.key"));
  ASSERT_TRUE(loaded.is_ok()) << loaded.status().to_string();
  EXPECT_EQ(loaded->id(), id.id());
}

TEST_F(IdentityFileTest, RefusesKeyFileReadableByOthers) {
  Identity id = Identity::generate();
  ASSERT_TRUE(id.save(path("node.key")).is_ok());
  ASSERT_EQ(chmod(path("node.key").c_str(), 0644), 0);
  auto loaded = Identity::load(path("node.key"));
  ASSERT_FALSE(loaded.is_ok());
  EXPECT_EQ(loaded.status().code(), StatusCode::kPermissionDenied);
  EXPECT_NE(loaded.status().message().find("chmod 600"), std::string::npos);
}

TEST_F(IdentityFileTest, RefusesToOverwriteExistingKey) {
  ASSERT_TRUE(Identity::generate().save(path("node.key")).is_ok());
  auto again = Identity::generate().save(path("node.key"));
  EXPECT_EQ(again.code(), StatusCode::kAlreadyExists);
}

TEST_F(IdentityFileTest, RejectsCorruptKeyFile) {
  {
    std::ofstream out(path("bad.key"));
    out << "polder-ed25519-secret-v1\nzz\n";
  }
  chmod(path("bad.key").c_str(), 0600);
  auto loaded = Identity::load(path("bad.key"));
  ASSERT_FALSE(loaded.is_ok());
  EXPECT_EQ(loaded.status().code(), StatusCode::kInvalidArgument);
}

TEST_F(IdentityFileTest, MissingFileIsNotFound) {
  EXPECT_EQ(Identity::load(path("none.key")).status().code(), StatusCode::kNotFound);
}

TEST(IdentityTest, SignatureVerifiesOnlyForSignerAndMessage) {
  Identity a = testing::identity_from(1);
  Identity b = testing::identity_from(2);
  Bytes msg = {1, 2, 3};
  Signature sig = a.sign(msg);
  EXPECT_TRUE(verify_signature(a.id(), msg, sig));
  EXPECT_FALSE(verify_signature(b.id(), msg, sig));
  Bytes changed = {1, 2, 4};
  EXPECT_FALSE(verify_signature(a.id(), changed, sig));
}

TEST(IdentityTest, CurveKeyDerivedFromPublicKeyMatchesOwnPair) {
  Identity a = testing::identity_from(3);
  auto from_public = curve_public_key(a.id());
  ASSERT_TRUE(from_public.is_ok());
  EXPECT_EQ(*from_public, a.curve().public_key);
  EXPECT_NE(a.curve().public_key, a.curve().secret_key);
}

TEST(IdentityTest, SameSeedSameIdDifferentSeedDifferentId) {
  EXPECT_EQ(testing::identity_from(9).id(), testing::identity_from(9).id());
  EXPECT_NE(testing::identity_from(9).id(), testing::identity_from(10).id());
}

TEST(IdentityTest, ShortIdIsTwelveHexDigitsOfTheKey) {
  Identity a = testing::identity_from(4);
  EXPECT_EQ(a.id().short_hex().size(), 12u);
  EXPECT_EQ(a.id().hex().substr(0, 12), a.id().short_hex());
  auto parsed = NodeId::from_hex(a.id().hex());
  ASSERT_TRUE(parsed.is_ok());
  EXPECT_EQ(*parsed, a.id());
  EXPECT_FALSE(NodeId::from_hex("xyz").is_ok());
}

}  // namespace
}  // namespace polder
